"""Tools that measure the index (`articlebot bench`, `articlebot eval`); they use only its public verbs."""
