"""The dashboard's static files (static/): vanilla JS + SVG, no build step, no CDN."""
