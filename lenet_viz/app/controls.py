"""The user's levers: the hyperparameter form and the strip that names the tutorial's phases."""

from __future__ import annotations

import math

from PySide6.QtCore import QRegularExpression, Qt, Signal
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QComboBox, QDoubleSpinBox, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSpinBox,
    QApplication, QVBoxLayout, QWidget,
)

from ..training import ConfigError, LossKind, OptimizerKind, Phase, TrainConfig, UpdateMode
from .session import PHASE_STORY

#: The longest story the session tells while paused (see Session.story): the strip reserves its height.
LONGEST_STORY = max(
    (f"Just ran {p.label} — {PHASE_STORY[p]}.   Next: {p.next().label}" for p in Phase), key=len
) + " " * 12
ADAM_MOMENTUM = "Adam ignores momentum: its own betas (0.9, 0.999) average the gradients."

class PhaseStrip(QWidget):
    """ZERO_GRAD → FORWARD → LOSS → BACKWARD → UPDATE, with the one just run and the next marked."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout()
        row.setContentsMargins(6, 4, 6, 2)
        row.setSpacing(3)  # the strip sets the centre's minimum width: keep it under 480 px for 1280-px screens
        self.labels: dict[Phase, QLabel] = {}
        for i, phase in enumerate(Phase):
            if i:
                arrow = QLabel("→")
                arrow.setObjectName("phaseArrow")
                row.addWidget(arrow)
            label = QLabel(phase.label)
            label.setObjectName("phase")
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
            label.setToolTip(PHASE_STORY[phase])
            self.labels[phase] = label
            row.addWidget(label)
        row.addStretch(1)
        self.story = QLabel("")
        self.story.setObjectName("phaseStory")
        self.story.setWordWrap(True)
        # Always two lines high: a one-line story while running and a two-line one paused moved
        # everything below by a line on every Space, so a click aimed at a button missed.
        self.story.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(0)
        box.addLayout(row)
        box.addWidget(self.story)
        self.done: Phase | None = None
        self.next: Phase = Phase.ZERO_GRAD
        self.running = False
        self.set_phase(None, Phase.ZERO_GRAD, story="Loading the data and building LeNet…")

    def set_phase(self, done: Phase | None, next_phase: Phase, *, running: bool = False, story: str) -> None:
        """Mark the phase just run and the next one; `story` is the session's words for this moment."""
        self.done, self.next, self.running = done, next_phase, running
        for phase, label in self.labels.items():
            state = "done" if phase is done and not running else "next" if phase is next_phase and not running else ""
            if label.property("state") != state:
                label.setProperty("state", state)
                label.style().unpolish(label)
                label.style().polish(label)
        if self.story.text() != story:
            self.story.setText(story)
        self._reserve()

    def resizeEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt's name
        super().resizeEvent(event)
        self._reserve()

    def _reserve(self) -> None:
        """Room for the longest story at this width and font, whichever story shows: a one-line story
        while running and a longer one paused moved everything below on every Space."""
        width = max(self.story.width(), 100)
        metrics = self.story.fontMetrics()
        flags = int(Qt.AlignmentFlag.AlignLeft | Qt.TextFlag.TextWordWrap)
        height = max(metrics.boundingRect(0, 0, width, 10_000, flags, text).height() for text in (LONGEST_STORY, self.story.text()))
        if self.story.minimumHeight() != height + 4:
            self.story.setMinimumHeight(height + 4)


class HyperparameterForm(QWidget):
    """Edits a TrainConfig; refuses invalid values with the engine's own reason, visibly."""

    config_applied = Signal(object)  # a validated TrainConfig
    speed_limit_changed = Signal(object)  # float iterations/s, or None for unlimited

    def __init__(self, config: TrainConfig, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._base = config
        form = QFormLayout()
        self.lr = QLineEdit()
        self.lr.setToolTip("learning rate, (0, 10]; the tutorial uses 0.01")
        self.momentum = QLineEdit()
        self.momentum.setToolTip("SGD momentum in [0, 1); must be 0 for the manual update")
        self.batch_size = QSpinBox()
        self.batch_size.setRange(1, 4096)
        self.optimizer = self._combo(OptimizerKind)
        self.loss = self._combo(LossKind)
        self.update_mode = self._combo(UpdateMode)
        self.update_mode.setToolTip("manual: the tutorial's p.data.sub_(p.grad.data * lr), plain SGD")
        self.seed = SeedBox()
        self.seed.setToolTip("0 … 2⁶³−1; changing the seed restarts training")
        self.speed = QDoubleSpinBox()
        self.speed.setRange(0, 10000)
        self.speed.setDecimals(1)
        self.speed.setSpecialValueText("unlimited")
        self.speed.setSuffix(" it/s")
        self.speed.setToolTip("maximum iterations per second while running (0 = unlimited)")
        for name, widget in [
            ("learning rate", self.lr), ("momentum", self.momentum), ("batch size", self.batch_size),
            ("optimizer", self.optimizer), ("loss", self.loss), ("update", self.update_mode),
            ("seed", self.seed), ("speed limit", self.speed),
        ]:
            form.addRow(name, widget)
        self.apply_button = QPushButton("Apply")
        self.apply_button.setToolTip("hyperparameters apply at the next iteration boundary; a new seed restarts")
        self.apply_button.clicked.connect(self.apply)
        self.lr.returnPressed.connect(self.apply)
        self.momentum.returnPressed.connect(self.apply)
        self.seed.returnPressed.connect(self.apply)
        self.optimizer.currentIndexChanged.connect(self._show_momentum_use)
        self.momentum_note = QLabel(ADAM_MOMENTUM)
        self.momentum_note.setWordWrap(True)
        self.momentum_note.hide()
        self.error = QLabel("")
        self.error.setObjectName("formError")
        self.error.setWordWrap(True)
        box = QVBoxLayout(self)
        box.addLayout(form)
        box.addWidget(self.momentum_note)
        box.addWidget(self.apply_button)
        box.addWidget(self.error)
        box.addStretch(1)
        self.set_config(config)

    @staticmethod
    def _combo(enum) -> QComboBox:  # noqa: ANN001
        combo = QComboBox()
        for e in enum:
            combo.addItem(e.value, e)
        return combo

    def set_config(self, config: TrainConfig, speed_limit: float | None = None) -> None:
        """Show `config` (e.g. the one the engine really runs with)."""
        self._base = config
        self.lr.setText(f"{config.lr:g}")
        self.momentum.setText(f"{config.momentum:g}")
        self.batch_size.setValue(config.batch_size)
        self.optimizer.setCurrentIndex(self.optimizer.findData(config.optimizer))
        self.loss.setCurrentIndex(self.loss.findData(config.loss))
        self.update_mode.setCurrentIndex(self.update_mode.findData(config.update))
        self.seed.setValue(config.seed)
        if speed_limit is not None:
            self.speed.setValue(speed_limit)
        self._show_error("")

    def base_config(self) -> TrainConfig:
        """The settings the form edits (the engine's, as last shown), without the fields' pending edits."""
        return self._base

    def set_base(self, config: TrainConfig) -> None:
        """Adopt settings changed elsewhere (the bug lab) without touching what the user is typing."""
        self._base = config

    def current_config(self) -> TrainConfig:
        """The form's values as a validated TrainConfig; raises ConfigError naming the bad field."""
        return self._base.replace(
            lr=_parse_float("lr", self.lr.text()),
            momentum=_parse_float("momentum", self.momentum.text()),
            batch_size=self.batch_size.value(),
            optimizer=self.optimizer.currentData(),
            loss=self.loss.currentData(),
            update=self.update_mode.currentData(),
            seed=self.seed.value(),
        )

    def speed_limit(self) -> float | None:
        return self.speed.value() or None

    def apply(self) -> bool:
        try:
            config = self.current_config()
        except ConfigError as e:
            self._show_error(f"Not applied — {e}")
            return False
        self._show_error("")
        self._base = config
        self.config_applied.emit(config)
        self.speed_limit_changed.emit(self.speed_limit())
        focused = QApplication.focusWidget()
        if focused is not None and self.isAncestorOf(focused):
            focused.clearFocus()  # the keys are the window's again: Space runs instead of typing a space
        return True

    def _show_momentum_use(self) -> None:
        """Adam has no momentum setting (its betas play that part): say so instead of taking one it ignores."""
        data = self.optimizer.currentData()  # Qt may hand the enum back as its value
        adam = getattr(data, "value", data) == OptimizerKind.ADAM.value
        self.momentum_note.setVisible(adam)  # (the field stays editable: the manual update's rule still reads it)

    def _show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.setVisible(bool(text))


class SeedBox(QLineEdit):
    """Every seed the engine accepts, 0 … 2⁶³−1.  A QSpinBox holds 32-bit ints only: a larger seed
    was shown clipped, and Apply then silently restarted the run with the clipped seed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setValidator(QRegularExpressionValidator(QRegularExpression(r"\d{0,19}"), self))

    def value(self) -> int:
        """The seed typed; ConfigError (naming the seed) when empty or past 2⁶³−1."""
        text = self.text().strip()
        if not text.isdigit() or int(text) >= 2**63:
            raise ConfigError("seed", f"must be an integer from 0 to {2**63 - 1} (got {text!r})")
        return int(text)

    def setValue(self, seed: int) -> None:  # noqa: N802 - QSpinBox's name, which this replaced
        self.setText(str(int(seed)))


def _parse_float(field: str, text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise ConfigError(field, f"must be a number (got {text.strip()!r})") from None
    if not math.isfinite(value):
        raise ConfigError(field, f"must be a finite number (got {text.strip()!r})")
    return value
