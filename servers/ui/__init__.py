"""The web view of the cluster: a single-page app the apiserver serves at ``/ui/``.

``static/`` holds the page itself (plain ES modules and CSS, no build step); ``serve.py`` is
the apiserver's middleware that hands those files out. The page has no backend of its own: it
calls the same API with the user's bearer token, so RBAC decides what it may see and do.
"""
