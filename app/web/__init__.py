"""The operators' dashboard: static HTML, CSS and JavaScript modules served by the app."""
