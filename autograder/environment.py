"""Every environment variable the autograder reads or sets, named once.

The grader passes state to its own code explicitly (arguments, context variables); these are the
few values that cross a process boundary, or come from the instructor's shell or from nbgrader.
"""

# The grading secret (autograder/checks/secret.py). Unset: the file .grading-secret is read.
GRADING_SECRET = "MHA_GRADING_SECRET"
# Who is graded, for a hidden check run outside the grading command (a test, a script).
STUDENT_ID = "MHA_STUDENT_ID"
# Set by nbgrader in the kernel of `nbgrader autograde` (to "autograde").
NBGRADER_EXECUTION = "NBGRADER_EXECUTION"
# A file to which the sandbox's child process appends its stderr (autograder/sandbox/host.py).
SANDBOX_DEBUG = "AUTOGRADER_SANDBOX_DEBUG"
# Threads of torch's and numpy's OpenMP pools in a grading worker.
OMP_NUM_THREADS = "OMP_NUM_THREADS"
