"""`prodline serve`: the champion's ranked list, its model card and scores on request, as a JSON API
and a server-rendered web page (FastAPI), following the registry's champion alias as it moves."""
