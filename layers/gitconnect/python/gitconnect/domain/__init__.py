"""Pure domain: records, normalized events, rules, errors. Standard library only."""
