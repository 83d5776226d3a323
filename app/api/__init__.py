"""HTTP front end: routers, schemas and request dependencies."""
