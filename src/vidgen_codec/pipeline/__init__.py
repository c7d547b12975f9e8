"""The coding loops under the library face (`api.py`): `decode.py`."""
