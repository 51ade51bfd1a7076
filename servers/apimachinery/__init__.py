"""API machinery shared by the apiserver and the clients (standard library only).

``meta`` (Obj, timestamps, uids), ``errors`` (StatusError tree, Status objects), ``field``
(validation causes), ``validation`` (names, labels, object metadata), ``selectors`` (label and
field selectors), ``patch`` (JSON patch, merge patch). Importing this package imports nothing
else; import the module you need.
"""
