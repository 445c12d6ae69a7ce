"""`python -m bench`: the budget figures of DESIGN.md section 8, measured in one run."""
