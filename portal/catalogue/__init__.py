"""Events and programmes: the public listing and pages, imports, the back office's editing and dashboard, feeds and schema.org data."""
