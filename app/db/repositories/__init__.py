"""All SQL lives in these modules; services and handlers call them."""
