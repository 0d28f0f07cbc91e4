"""Modal dialogs: each asks one thing and dismisses with the answer (see ``base.Dialog``)."""
