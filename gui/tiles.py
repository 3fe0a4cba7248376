"""The seven per-axis tiles of a result (label, big value, detail line, bar), and the grid that reflows them.

The tiles draw `cab_check.report.axes.AxisTile` data; nothing here computes a score.
"""

from __future__ import annotations

import shiboken6
from PySide6.QtCore import QEvent, QMargins, QObject, QPoint, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent, QPalette
from PySide6.QtWidgets import QApplication, QFrame, QLabel, QLayout, QLayoutItem, QSizePolicy, QVBoxLayout, QWidget

from cab_check.gui.theme import goodness_color
from cab_check.report.axes import AxisTile

VALUE_SCALE = 1.8  # the big number, relative to the tile's font
TILE_WIDTH_CHARS = 20  # a tile's preferred width, in average characters of its font


def bar_description(tile: AxisTile) -> str:
    """The bar in words, for screen readers: how full, and whether that end is the good one."""
    if tile.fraction is None:
        return "no bar"
    goodness = tile.goodness or 0.0
    verdict = "good" if goodness >= 0.75 else "middling" if goodness >= 0.4 else "poor"
    direction = "higher is better" if tile.good_high else "lower is better"
    return f"bar {tile.fraction:.0%} full, {direction}: {verdict}"


class ScaledLabel(QLabel):
    """A label whose font is its parent's font × `scale` (optionally bold), kept so when the parent's font changes.

    Qt cannot inherit a point size relatively, and a label with a font of its own is not told when its parent's
    font changes, so it watches the parent for that.
    """

    def __init__(self, text: str = "", scale: float = 1.0, bold: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.scale, self.bold = scale, bold
        self._watched: QWidget | None = None
        self._follow_parent()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.ParentChange:
            self._follow_parent()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self._watched and event.type() == QEvent.Type.FontChange:
            self._rescale()
        return False

    def _follow_parent(self) -> None:
        if self._watched is not None and shiboken6.isValid(self._watched):
            self._watched.removeEventFilter(self)
        self._watched = self.parentWidget()
        if self._watched is not None:
            self._watched.installEventFilter(self)
        self._rescale()

    def _rescale(self) -> None:
        font = QFont(self._watched.font() if self._watched is not None else QApplication.font())
        font.setBold(self.bold)
        if font.pointSizeF() > 0:
            font.setPointSizeF(font.pointSizeF() * self.scale)
        else:
            font.setPixelSize(max(1, round(font.pixelSize() * self.scale)))
        self.setFont(font)


class AxisBar(QWidget):
    """A horizontal bar filled to `fraction` in the tile's goodness colour, on a track in the palette's mid tone."""

    def __init__(self, tile: AxisTile, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tile = tile
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    @property
    def fill_color(self) -> QColor:
        return goodness_color(self.tile.goodness if self.tile.goodness is not None else 0.0, self.palette())

    def sizeHint(self) -> QSize:
        return QSize(self.fontMetrics().averageCharWidth() * 10, max(4, self.fontMetrics().height() // 2))

    def minimumSizeHint(self) -> QSize:
        return QSize(self.fontMetrics().averageCharWidth() * 4, self.sizeHint().height())

    def paintEvent(self, event: QPaintEvent) -> None:
        if self.tile.fraction is None:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        track = self.rect()
        painter.fillRect(track, self.palette().color(QPalette.ColorRole.Mid))
        filled = round(track.width() * max(0.0, min(1.0, self.tile.fraction)))
        if filled > 0:
            painter.fillRect(QRect(track.left(), track.top(), filled, track.height()), self.fill_color)
        painter.end()


class AxisTileWidget(QFrame):
    """One axis as a CAB cell page shows it: its label, the value in a large font, a detail line and a bar.

    Tiles without a bar (`tile.fraction` None) keep the bar's space empty so the tiles of a row line up.
    """

    def __init__(self, tile: AxisTile, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.tile = tile
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setBackgroundRole(QPalette.ColorRole.Base)
        self.setAutoFillBackground(True)

        self.label = QLabel(tile.label)
        title_font = QFont()  # only the weight: the size follows the application font
        title_font.setBold(True)
        self.label.setFont(title_font)
        self.value = ScaledLabel(tile.value, VALUE_SCALE, bold=True)
        self.detail = QLabel(tile.detail)
        self.detail.setWordWrap(True)
        self.detail.setForegroundRole(QPalette.ColorRole.PlaceholderText)  # the palette's muted, still legible tone
        self.bar = AxisBar(tile)
        self.bar.setVisible(tile.fraction is not None)
        # Without a bar the tile keeps the bar's height, so a row of tiles stays aligned.
        policy = self.bar.sizePolicy()
        policy.setRetainSizeWhenHidden(True)
        self.bar.setSizePolicy(policy)

        layout = QVBoxLayout(self)
        for widget in (self.label, self.value, self.detail, self.bar):
            layout.addWidget(widget)
        layout.addStretch(1)

        self.setAccessibleName(f"{tile.label}: {tile.value}")
        self.setAccessibleDescription(f"{tile.detail}; {bar_description(tile)}")
        self.setToolTip(f"{tile.label}: {tile.value} — {tile.detail}")

    @property
    def has_bar(self) -> bool:
        return self.tile.fraction is not None

    def sizeHint(self) -> QSize:
        layout = self.layout()
        margins = self.contentsMargins() + (layout.contentsMargins() if layout else QMargins())
        text_width = max(
            self.fontMetrics().averageCharWidth() * TILE_WIDTH_CHARS,
            self.value.sizeHint().width(),
            self.label.sizeHint().width(),
        )
        width = text_width + margins.left() + margins.right()
        return QSize(width, self.heightForWidth(width))


class TileFlowLayout(QLayout):
    """Lays equal-width cells in as many columns as fit, row after row; columns stretch to fill the width.

    It has a height for every width, so the parent grows taller as the tiles wrap onto more rows.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._items: list[QLayoutItem] = []

    # --- QLayout's contract ------------------------------------------------------------------------------------

    def addItem(self, item: QLayoutItem) -> None:
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        return self._arrange(QRect(0, 0, width, 0), move=False)

    def minimumSize(self) -> QSize:
        size = QSize()
        for item in self._items:
            size = size.expandedTo(item.minimumSize())
        margins = self.contentsMargins()
        return size + QSize(margins.left() + margins.right(), margins.top() + margins.bottom())

    def sizeHint(self) -> QSize:
        margins = self.contentsMargins()
        columns = min(len(self._items), 4)
        width = columns * self._cell_width() + max(0, columns - 1) * self._spacing() + margins.left() + margins.right()
        return QSize(width, self.heightForWidth(width))

    def setGeometry(self, rect: QRect) -> None:
        super().setGeometry(rect)
        self._arrange(rect, move=True)

    # --- arranging ---------------------------------------------------------------------------------------------

    def columns_for(self, width: int) -> int:
        """How many columns fit `width` (the layout's outer width, margins included); at least one."""
        margins = self.contentsMargins()
        inner = width - margins.left() - margins.right()
        cell, spacing = self._cell_width(), self._spacing()
        if not self._items or cell <= 0:
            return 1
        return max(1, min(len(self._items), (inner + spacing) // (cell + spacing)))

    def _spacing(self) -> int:
        spacing = self.spacing()
        return spacing if spacing >= 0 else 6

    def _cell_width(self) -> int:
        widths = [
            max(item.sizeHint().width(), item.minimumSize().width()) for item in self._items if not item.isEmpty()
        ]
        return max(widths, default=0)

    def _arrange(self, rect: QRect, move: bool) -> int:
        """Places the items (when `move`) and returns the height they need within `rect`'s width."""
        margins = self.contentsMargins()
        items = [item for item in self._items if not item.isEmpty()]
        if not items:
            return 0
        spacing = self._spacing()
        columns = self.columns_for(rect.width())
        inner = rect.width() - margins.left() - margins.right()
        # Never narrower than the widest minimum: below that the parent scrolls rather than clips a tile.
        widest_minimum = max(item.minimumSize().width() for item in items)
        cell = max(widest_minimum, (inner - (columns - 1) * spacing) // columns)
        y = rect.y() + margins.top()
        for start in range(0, len(items), columns):
            row = items[start : start + columns]
            height = max(
                item.heightForWidth(cell) if item.hasHeightForWidth() else item.sizeHint().height() for item in row
            )
            height = max(height, max(item.minimumSize().height() for item in row))
            if move:
                for column, item in enumerate(row):
                    x = rect.x() + margins.left() + column * (cell + spacing)
                    item.setGeometry(QRect(QPoint(x, y), QSize(cell, height)))
            y += height + spacing
        return y - spacing - rect.y() + margins.bottom()


class TileGrid(QWidget):
    """The seven tiles of a result, reflowed into as many columns as the width allows."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.flow = TileFlowLayout(self)
        self.flow.setContentsMargins(0, 0, 0, 0)
        self.tiles: list[AxisTileWidget] = []
        self.setAccessibleName("Per-axis scores")

    @property
    def columns(self) -> int:
        """The number of columns the tiles are in at the current width."""
        return self.flow.columns_for(self.width())

    def set_tiles(self, tiles: list[AxisTile]) -> list[AxisTileWidget]:
        """Replaces the tiles shown with one widget per `AxisTile`; returns the new widgets."""
        self.clear()
        self.tiles = [AxisTileWidget(tile, self) for tile in tiles]
        for widget in self.tiles:
            self.flow.addWidget(widget)
            widget.show()
        self.updateGeometry()
        return self.tiles

    def clear(self) -> None:
        while (item := self.flow.takeAt(0)) is not None:
            widget = item.widget()
            if widget is not None:
                widget.hide()
                widget.setParent(None)  # gone from the widget tree at once, not at the next event loop pass
                widget.deleteLater()
        self.tiles = []
        self.updateGeometry()
