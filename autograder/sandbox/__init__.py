"""The sandbox: ``child`` is the locked-down process that runs a learner's code (run as a script,
never imported by the grader); ``host`` starts it, talks to it and decodes what it sends back."""
