"""The staff side: accounts, signing in, the second factor, and the directory the staff pages read."""
