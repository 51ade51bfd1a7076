"""API machinery shared by the apiserver and the clients (standard library only).

``meta`` (Obj, timestamps, uids), ``errors`` (the StatusError tree, Status objects),
``field`` (validation causes), ``validation`` (names, labels, object metadata),
``selectors`` (label and field selectors), ``selectable`` (each resource's selectable fields),
``patch`` (JSON patch, merge patch). Importing the package imports nothing else; import the
module you need.
"""
