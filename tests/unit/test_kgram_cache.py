"""The k-gram sets of the course's own code kept on disk between runs
(autograder/report/kgram_cache.py): the same set from the file as made, made again when the file
is damaged or the code changed, and made anyway when nothing can be written."""

import pytest

from autograder.report import kgram_cache, similarity

pytestmark = pytest.mark.unit

SOURCES = ("def f(x):\n    return x @ x.T\n", "y = f(np.ones((3, 4)))\nprint(y.sum())\n")


class Maker:
    """similarity's own maker of a k-gram set, counting its calls."""

    def __init__(self):
        self.calls = 0

    def __call__(self, sources):
        self.calls += 1
        return similarity._make_kgram_set(sources)


def test_a_second_run_reads_the_set_the_first_made(tmp_path):
    make = Maker()
    made = kgram_cache.kgram_set(SOURCES, make, tmp_path)
    read = kgram_cache.kgram_set(SOURCES, make, tmp_path)
    assert made and read == made and make.calls == 1
    hashes = [similarity.kgram_hashes(similarity.normalise(source)) for source in SOURCES]
    assert made == frozenset(value for values in hashes for value in values)


def test_a_damaged_file_is_made_again_and_replaced(tmp_path):
    make = Maker()
    expected = kgram_cache.kgram_set(SOURCES, make, tmp_path)
    (path,) = tmp_path.glob("*.npy")
    for damage in (b"", b"not numpy at all", path.read_bytes()[:-8]):
        path.write_bytes(damage)
        assert kgram_cache.kgram_set(SOURCES, make, tmp_path) == expected
    assert make.calls == 4
    assert kgram_cache.kgram_set(SOURCES, make, tmp_path) == expected and make.calls == 4


def test_a_cache_that_cannot_be_written_costs_only_the_time(tmp_path):
    """A file where the folder should be: nothing can be saved, the set is made all the same."""
    (tmp_path / "kgrams").write_text("a file where the folder should be")
    make = Maker()
    assert kgram_cache.kgram_set(SOURCES, make, tmp_path / "kgrams") == make(SOURCES)


def test_other_text_or_other_code_is_another_file(monkeypatch):
    same = kgram_cache.key(SOURCES)
    assert kgram_cache.key(SOURCES) == same
    assert kgram_cache.key(SOURCES[::-1]) != same
    assert kgram_cache.key((SOURCES[0] + SOURCES[1],)) != same  # the texts are not just joined
    monkeypatch.setattr(kgram_cache, "_code_version", lambda: b"another normaliser")
    assert kgram_cache.key(SOURCES) != same


def test_a_file_that_cannot_be_put_in_place_leaves_nothing_behind(tmp_path):
    """A folder where the set's file should be: the set is made, and no half-written file stays."""
    (tmp_path / f"{kgram_cache.key(SOURCES)}.npy").mkdir()
    make = Maker()
    assert kgram_cache.kgram_set(SOURCES, make, tmp_path) == make(SOURCES)
    assert [path.name for path in tmp_path.iterdir()] == [f"{kgram_cache.key(SOURCES)}.npy"]
