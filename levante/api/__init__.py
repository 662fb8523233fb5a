"""The REST API: Mistral's v2 API over falcon (``levante.api.app.create_app``)."""
