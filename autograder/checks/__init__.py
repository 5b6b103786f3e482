"""What a hidden test calls: ``hidden.hidden_check`` runs one check of ``assignments/``, on inputs
drawn by ``secret`` from the grading secret, the student and the assignment, against torch
(``oracle``). ``notebook_helpers`` is the visible-test helper cell shared by every exercise."""
