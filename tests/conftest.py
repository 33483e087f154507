"""Set-up every test shares: hubrl's cache lives in this session's temporary folder, never in the user's ~/.cache."""

import pytest


@pytest.fixture(scope="session", autouse=True)
def hubrl_cache(tmp_path_factory: pytest.TempPathFactory):
    """``HUBRL_CACHE`` for the whole session (child processes inherit it).

    Course conversions land there, so tests that load the same model.pt share one conversion, as a user's machine
    would; tests about the cache itself set their own folder.
    """
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HUBRL_CACHE", str(tmp_path_factory.mktemp("hubrl-cache")))
        yield
