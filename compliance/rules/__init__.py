"""The rules, one module per side of the boundary; importing a module registers its rules."""
