import pytest

from economy.levels import level_progress, total_xp_for_level, xp_to_next_level


@pytest.mark.parametrize(
    ("xp", "level", "into", "needed"),
    [
        (0, 1, 0, 1000),
        (999, 1, 999, 1000),
        (1000, 2, 0, 1100),
        (2099, 2, 1099, 1100),
        (2100, 3, 0, 1200),
        (3300, 4, 0, 1300),
    ],
)
def test_level_boundaries_follow_the_formula(xp: int, level: int, into: int, needed: int) -> None:
    progress = level_progress(xp)

    assert (progress.level, progress.xp_into_level, progress.xp_for_next_level) == (level, into, needed)


def test_level_is_consistent_with_the_per_level_cost_far_out() -> None:
    total = 0
    for level in range(1, 400):
        assert total_xp_for_level(level) == total
        assert level_progress(total).level == level
        assert level_progress(total + xp_to_next_level(level) - 1).level == level
        total += xp_to_next_level(level)


def test_negative_xp_is_refused() -> None:
    with pytest.raises(ValueError):
        level_progress(-1)
