"""The domain: services change rows; views and tasks call them and commit."""
