"""A tiny DOM built with the stdlib HTML parser, for tests that check generated reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {"meta", "link", "br", "hr", "img", "input", "col", "area", "base", "wbr", "source"}


@dataclass
class Node:
    """One element: its attributes (a missing value reads as "") and its content in document
    order, child elements and text alike."""

    tag: str
    attrs: dict[str, str]
    content: list[Node | str] = field(default_factory=list)

    @property
    def children(self) -> list[Node]:
        """The child elements."""
        return [item for item in self.content if isinstance(item, Node)]

    @property
    def text(self) -> str:
        """Every text inside, in document order."""
        return "".join(item if isinstance(item, str) else item.text for item in self.content)

    def all_text(self) -> str:
        """Every text inside, in document order (same as :attr:`text`)."""
        return self.text

    def iter(self, tag: str | None = None) -> list[Node]:
        """This node and its descendants (with ``tag`` only, when given), in document order."""
        found = [self] if tag is None or self.tag == tag else []
        for child in self.children:
            found.extend(child.iter(tag))
        return found

    def find_all(self, tag: str, **attrs: str) -> list[Node]:
        """Descendants with ``tag`` and these attribute values; ``class_`` matches one class."""

        def matches(node: Node, key: str, value: str) -> bool:
            if key == "class_":
                return value in node.attrs.get("class", "").split()
            return node.attrs.get(key) == value

        return [n for n in self.iter(tag) if all(matches(n, k, v) for k, v in attrs.items())]

    def by_id(self, element_id: str) -> Node | None:
        """The element with this id, or None (fails when the id is not unique)."""
        found = [n for n in self.iter() if n.attrs.get("id") == element_id]
        assert len(found) <= 1, f"id {element_id!r} is not unique"
        return found[0] if found else None

    def find_id(self, element_id: str) -> Node:
        """The one element with this id (fails when there is none or more than one)."""
        node = self.by_id(element_id)
        assert node is not None, f"expected one element with id={element_id!r}, got none"
        return node

    def by_class(self, css_class: str, tag: str | None = None) -> list[Node]:
        """Descendants whose class attribute holds ``css_class``."""
        return [n for n in self.iter(tag) if css_class in n.attrs.get("class", "").split()]


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {key: value or "" for key, value in attrs})
        self.stack[-1].content.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].content.append(Node(tag, {key: value or "" for key, value in attrs}))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].content.append(data)


def parse_html(html: str) -> Node:
    """Parse ``html`` into a tree; fails on mismatched or unclosed elements."""
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    assert builder.stack == [builder.root], "unclosed elements"
    return builder.root
