"""The API's routes by area, each a module-level router that `api.app.create_app` includes:
cases (open, list, summary, history), commands (what care records), operations (health,
metrics, PDL access logs) and measures (follow-up statistics)."""
