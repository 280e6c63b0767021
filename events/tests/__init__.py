"""Tests of events/, mirroring its modules: test_services_<noun>.py, test_api_<noun>.py,
test_admin.py, test_concurrency.py (real threads against PostgreSQL); test_layout.py keeps the
rooms in place."""
