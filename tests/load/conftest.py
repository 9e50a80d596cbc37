from tests.faults.conftest import cluster, pytest_collection_modifyitems

__all__ = ["cluster", "pytest_collection_modifyitems"]
