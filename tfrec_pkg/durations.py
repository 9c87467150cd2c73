"""How the commands speak of a duration (estimates, progress, a run's time): seconds below
90 s, whole minutes from there."""


def readable(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"
