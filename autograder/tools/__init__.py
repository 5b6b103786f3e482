"""Tools for the course's developers and instructors: the demo class (``demo``), the benchmark
(``benchmark``), and a constructed class of honest answers for the similarity report."""
