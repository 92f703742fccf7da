"""The recorded graph as Graphviz DOT text (a first, minimal version)."""


def to_dot(tensor):
    lines, seen, stack = ["digraph graph_ {", "  node [shape=box];"], set(), []
    if tensor.grad_fn is not None:
        stack.append(tensor.grad_fn)
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        lines.append(f'  n{id(node)} [label="{node.name()}"];')
        for nxt, _ in node.next_functions:
            if nxt is not None:
                lines.append(f"  n{id(nxt)} -> n{id(node)};")
                stack.append(nxt)
    lines.append("}")
    return "\n".join(lines)
