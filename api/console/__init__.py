"""The web console under /console: Swedish server-rendered pages for rehab coordinators and
operations staff, on the API's own rules (see README.md beside this file)."""

from api.console.routes import router

__all__ = ["router"]
