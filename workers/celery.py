"""The Celery application: ``celery -A workers worker`` finds ``app`` here."""

from celery import Celery

app = Celery("smartsupport")
app.config_from_object("celeryconfig")
app.autodiscover_tasks(["workers"], related_name="tasks", force=True)
