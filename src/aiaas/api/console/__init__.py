"""The web console: server-rendered pages at ``/`` over the same services as the API.

Pages are Jinja2 templates with a little plain JavaScript (``static/js``) and one vendored chart
library (uPlot, ``static/vendor``, refreshed by ``scripts/vendor_frontend.py``); no build step.
A browser signs in with an API key once and then holds only a session cookie
(``session.py``); interactive pages call the JSON API with that cookie and the session's CSRF
token, so every page and fragment sees exactly what the key would through the API.
"""

