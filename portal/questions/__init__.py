"""Registration forms as data: their definitions, and how they are kept and changed."""
