"""Inside one step, and breaking it on purpose: the docks of issues #15 and #16 and their wiring.

- Code: the training loop as the tutorial writes it, for the current settings and lab bugs, with
  the line that runs next highlighted in lockstep with Step phase.
- Autograd graph: the loss's grad_fn DAG with each node's gradient norm after backward.
- Formula: a click on a conv1 gradient cell in the filter inspector (or the panel's own spin
  boxes) asks the engine to explain it with the current batch (`ExplainCell`).
- Manual vs optim: the tutorial's hand update beside optimizer.step(), asked after each backward
  while the dock is shown (`CompareUpdate`).
- Lab: named bugs switched on and off (a config change at the next iteration boundary).
- Health: flags with one-line explanations and what to try, dead ReLUs per layer.
- Distributions: weight, gradient and activation histograms over time.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QDockWidget, QMainWindow, QWidget

from ..training.code_text import training_code_for
from ..training.messages import CompareUpdate, ExplainCell, ShowGraph
from ..training.types import Phase
from .controls import HyperparameterForm
from .docks import DeferredPanel, add_dock, track_shown
from .panels.autograd_graph import AutogradGraphPanel
from .panels.code_panel import CodePanel
from .panels.common import WAITING
from .panels.distributions import DistributionPanel
from .panels.formula import FormulaPanel
from .panels.health import HealthPanel
from .panels.lab import LabPanel
from .panels.update_compare import UpdateComparePanel
from .session import Session
from .worker import TrainingWorker

LEFT, RIGHT = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea


class StepTools(QObject):
    def __init__(self, window: QMainWindow, worker: Callable[[], TrainingWorker], session: Session,
                 form: HyperparameterForm) -> None:
        super().__init__(window)
        self.window, self._worker, self.session, self.form = window, worker, session, form
        self.code = CodePanel()
        self.graph = AutogradGraphPanel()
        self.compare = UpdateComparePanel()
        self.lab = LabPanel()
        self.health = HealthPanel()
        self._deferred: dict[str, DeferredPanel] = {}
        self.docks = {
            "code": add_dock(window, "Code", self.code, RIGHT, scroll=True),
            "graph": add_dock(window, "Graph", self.graph, RIGHT, scroll=True),
            # Behind other tabs at launch: made when first shown (or once the window is drawn).
            "formula": self._later("formula", "Formula", FormulaPanel, RIGHT, lambda p: p.cell_requested.connect(self.explain)),
            "compare": add_dock(window, "Manual vs optim", self.compare, RIGHT, scroll=True),
            "lab": add_dock(window, "Bug lab", self.lab, RIGHT, scroll=True),
            "health": add_dock(window, "Health", self.health, LEFT, scroll=True),
            "distributions": self._later("distributions", "Distributions", DistributionPanel, LEFT),
        }
        # With the window's tree of next_functions ("tree"): what the engine walks for it.
        self.shown = track_shown({**self.docks, "tree": window.docks["autograd"]}, self._shown_changed)
        self.lab.bugs_changed.connect(self._bugs)
        self._cell: tuple[int, int, int] | None = None
        self._compared_at: tuple | None = None  # (run, iteration) last compared / explained
        self._explained_at: tuple | None = None
        self._graph_on: tuple[bool, bool] | None = None
        self.worker_started()

    def worker_started(self) -> None:
        """A new training worker (at launch, or Restart training): tell it what is on screen."""
        self._graph_on = None
        self._graph_wanted()

    def _graph_wanted(self) -> None:
        """The snapshots carry the graph (its norms recorded while running) and the tree only while their docks show."""
        wanted = (self.shown["graph"], self.shown["tree"])
        if wanted != self._graph_on:
            self._graph_on = wanted
            self.worker.send(ShowGraph(*wanted))

    @property
    def worker(self) -> TrainingWorker:
        return self._worker()

    def _later(self, name: str, title: str, make: Callable[[], QWidget], area: Qt.DockWidgetArea,
               wire: Callable | None = None) -> QDockWidget:
        """A dock behind another tab at launch: its panel is made when first shown or asked for."""
        self._deferred[name] = DeferredPanel(self.window, title, make, area, wire)
        return self._deferred[name].dock

    @property
    def formula(self) -> FormulaPanel:
        return self._deferred["formula"].panel

    @property
    def distributions(self) -> DistributionPanel:
        return self._deferred["distributions"].panel

    # ------------------------------------------------------------------ user → engine
    def explain(self, f: int, r: int, c: int) -> None:
        """Explain conv1.weight.grad[f, 0, r, c] (a click on the filter inspector, or the formula's own boxes)."""
        self._cell = (f, r, c)
        self.docks["formula"].show()
        self.docks["formula"].raise_()
        self.worker.send(ExplainCell(f, r, c))

    def _bugs(self, bugs: frozenset[str]) -> None:
        config = self.form.base_config().replace(bugs=frozenset(bugs))
        self.form.set_base(config)
        self.worker.apply_config(config)

    def _shown_changed(self, name: str, visible: bool) -> None:
        if name in ("graph", "tree"):
            self._graph_wanted()
        if visible:
            self.refresh({"snapshot", "history", "config", "explained", "compared"})
            if self._grads_on_screen():  # opened with .grad there: worked out at once, not empty maps and a hint
                key = (self.session.run, self.session.snapshot.iteration)
                if name == "formula" and self._explained_at != key:
                    self._explain_now(key)
                elif name == "compare" and self._compared_at != key:
                    self._compared_at = key
                    self.worker.send(CompareUpdate())

    def _explain_now(self, key: tuple) -> None:
        """Ask for the picked cell (the formula's boxes: 0, 0, 0 until someone picks) with this batch's numbers."""
        self._explained_at = key
        self._cell = self._cell or self.formula.cell
        self.worker.send(ExplainCell(*self._cell))

    def _grads_on_screen(self) -> bool:
        """The live run is on screen and has this iteration's gradients (BACKWARD or UPDATE just ran):
        what the formula and the update comparison are worked out from."""
        s = self.session
        return s.scrubbed is None and s.snapshot is not None and s.snapshot.last_phase in (Phase.BACKWARD, Phase.UPDATE)

    # ------------------------------------------------------------------ engine → panels
    def refresh(self, changed: set[str]) -> None:
        s, shown = self.session, self.shown
        snap = s.view
        if "reset" in changed:  # a new run: what described the old weights goes (a deferred panel not made holds nothing)
            self.graph.clear()
            self.health.clear()
            self.compare.show(None)
            if self._deferred["distributions"].built:
                self.distributions.clear()
            if self._deferred["formula"].built:
                self.formula.show(None)
        if snap is not None and changed & {"snapshot", "config", "text"} and shown["code"] and s.config is not None:
            self.code.show(training_code_for(s.config), snap.next_phase, snap.last_phase)
        if "snapshot" in changed and snap is not None:
            if shown["graph"] and snap.autograd_graph is None and snap.loss is not None:  # sent before the
                self.graph.clear(WAITING)  # engine heard the dock was shown: the next snapshot has the graph
            elif shown["graph"]:
                self.graph.show(snap.autograd_graph)
            if snap.last_phase is Phase.BACKWARD:
                key = (s.run, snap.iteration)
                if self._cell is not None and shown["formula"]:  # the same cell, with the new batch's numbers
                    self._explain_now(key)
                if shown["compare"] and key != self._compared_at:
                    self._compared_at = key
                    self.worker.send(CompareUpdate())
        if "explained" in changed and s.explained is not None:
            e = s.explained
            self.formula.show(e.explanation) if e.explanation is not None else self.formula.show_message(e.message)
        if "compared" in changed and s.compared is not None:
            c = s.compared
            self.compare.show(c.comparison) if c.comparison is not None else self.compare.show(None)
        if "config" in changed and s.config is not None:
            self.lab.show(s.config.bugs)
        if "history" in changed:
            if shown["health"] and s.last_stats is not None:
                self.health.show(s.last_stats)
            if shown["distributions"]:
                self.distributions.show(s.distributions)
