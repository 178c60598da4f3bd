"""Celery, built from the Flask app: ``celery -A workers worker``."""

from workers.celery_app import celery

__all__ = ["celery"]
