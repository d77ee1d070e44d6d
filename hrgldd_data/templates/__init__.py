"""Package data: the dataset card template (``dataset_card.md``, Jinja2)."""
