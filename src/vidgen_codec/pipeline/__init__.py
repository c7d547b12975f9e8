"""The coding loops under the library face (`api.py`): `encode.py`, `decode.py`; `parallel/`
runs the same loops in Ray tasks."""
