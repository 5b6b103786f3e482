"""``python -m autograder grade``: ``command`` (arguments and the run), ``collect`` (one task per
student and assignment), ``cluster`` (the Dask workers), ``notebook`` (grading one notebook),
``diagnosis`` (naming a likely mistake) and ``messages`` (the words written about a submission)."""
