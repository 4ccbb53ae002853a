"""Named evaluation scenarios of the wiping world: each one a set of knobs over the nominal task.

A scenario fixes the *distribution* an episode is drawn from (table height range, tool physics,
camera and lighting, disturbances); `task.EpisodeParams.sample` draws one episode from it, seeded.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scenario:
    """Knobs of one scenario. Offsets and times are drawn uniformly from the given ranges per episode.

    table_offset_abs_m: |table height offset| from nominal, with a random sign (nominal: +-2 cm).
    pad_friction / pad_stiffness_n_per_m: the wiping pad's sliding friction and spring stiffness.
    camera_shift_m / camera_tilt_rad: external camera displaced by this much in a random direction.
    light_scale: multiplies every light's diffuse colour (and the headlight).
    push_force_n / push_at_s / push_duration_s: a horizontal push on the hand (xfrc_applied), at an
        episode time drawn from push_at_s.
    tactile_freeze_at_s: the tactile sensor freezes (repeats its last field) from this episode time.
    """

    name: str
    doc: str
    table_offset_abs_m: tuple[float, float] = (0.0, 0.02)
    pad_friction: float = 0.4
    pad_stiffness_n_per_m: float = 800.0
    camera_shift_m: float = 0.0
    camera_tilt_rad: float = 0.0
    light_scale: float = 1.0
    push_force_n: float = 0.0
    push_at_s: tuple[float, float] = (5.0, 7.0)
    push_duration_s: float = 0.3
    tactile_freeze_at_s: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        lo, hi = self.table_offset_abs_m
        if not (0.0 <= lo <= hi <= 0.08):
            raise ValueError(f"scenario {self.name!r}: table_offset_abs_m must satisfy 0 <= lo <= hi <= 0.08")
        if self.pad_friction <= 0 or self.pad_stiffness_n_per_m <= 0 or self.light_scale <= 0:
            raise ValueError(f"scenario {self.name!r}: friction, stiffness and light_scale must be > 0")


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("nominal", "Training distribution: table height +-2 cm, nominal pad, camera and light"),
        Scenario(
            "table_out_of_range",
            "Table 3-4.5 cm above or below nominal: beyond the training range",
            table_offset_abs_m=(0.03, 0.045),
        ),
        Scenario("tool_friction", "High-friction pad (mu 1.0 instead of 0.4): more drag and shear", pad_friction=1.0),
        Scenario(
            "tool_stiffness",
            "Pad spring 3x stiffer: the same position error gives 3x the force",
            pad_stiffness_n_per_m=2400.0,
        ),
        Scenario(
            "camera_shift",
            "External camera moved 6 cm and tilted ~4 degrees",
            camera_shift_m=0.06,
            camera_tilt_rad=0.07,
        ),
        Scenario("lighting", "Lights dimmed to 35 %", light_scale=0.35),
        Scenario("push", "A 25 N horizontal push on the hand for 0.3 s while wiping", push_force_n=25.0),
        Scenario(
            "tactile_frozen",
            "The tactile sensor freezes (repeats its last reading) mid-episode",
            tactile_freeze_at_s=(3.0, 6.0),
        ),
    )
}


def scenario(name: str) -> Scenario:
    """The scenario called `name`, or a ValueError listing the known ones."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown sim scenario {name!r} (known: {', '.join(SCENARIOS)})") from None
