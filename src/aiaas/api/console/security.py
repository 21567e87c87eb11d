"""The headers that lock the console's pages down; ``render.page`` sends them with every page
(every HTML answer of the console is rendered there, error pages included), so no middleware
sits on the API's request path for them.

The Content-Security-Policy allows scripts, styles and connections from this origin only: no
inline script or style, no framing, forms that post only here. Images may be ``data:``/``blob:``
(plots, image previews) and media ``blob:`` (the microphone recording played back).
``nosniff`` is not here: ``RequestContext`` gives it to every response."""

from __future__ import annotations

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "connect-src 'self'; media-src 'self' blob:; font-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), geolocation=(), microphone=(self)",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
