"""The contract runs on every device kind; the Android kind uses the integration fixtures
(a real adb server and a virtual phone that speaks the adbd protocol)."""
from tests.integration.conftest import adb_server, virtual_phone  # noqa: F401  (fixtures)
