"""nbgrader configuration for the course, read by `nbgrader ...` run from this folder and by the
nbgrader extensions in JupyterLab (the Validate button) when the server is rooted here.

Layout: solutions/<id>/ is the source (with solutions and hidden tests); `make release` writes the
student version to notebooks/<id>/; a teacher collects work into submitted/<student>/<id>/.
"""

c = get_config()  # noqa: F821  (nbgrader injects get_config)

c.CourseDirectory.course_id = "hpc-python"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.db_url = "sqlite:///gradebook.db"

# Per-cell time limit. Graded cells call course_lib.testing checkers, which bound their own waits
# (a deadlocked lock or a lost wake-up fails the check in seconds); this limit is the next net for
# a student's infinite loop: the kernel is interrupted and only that cell loses its points.
c.Execute.timeout = 180
c.Execute.interrupt_on_timeout = True
c.Execute.startup_timeout = 120
# Graded runs use small sizes: the notebooks read COURSE_QUICK. The notebook-level net (a wall
# limit for a whole submission) is in course_lib.course.grading, which runs each autograde under a timeout.

# A graded kernel cannot read the answer key: at kernel start, an audit hook makes the course's
# solutions/ folder unavailable (open, listdir, subprocess) for the rest of the kernel's life. It
# stays off when the notebook itself lives in solutions/ (an author validating the source).
c.Execute.extra_arguments = [
    "--IPKernelApp.exec_lines=import course_lib.testing.delegation as _g; _g.install_guard(); del _g",
]

# nbgrader gives zero to a test cell with anything on stderr. Warnings from numba or the runtime are
# not the student's fault: strip those streams before grading. The pattern matches warning *lines*
# only, never tracebacks, which reach nbgrader as "error" outputs and still fail the cell.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = (
    r"(?m)^.*(NumbaWarning|NumbaPerformanceWarning|NumbaDeprecationWarning|NumbaPendingDeprecationWarning"
    r"|NumbaExperimentalFeatureWarning|RuntimeWarning|UserWarning|DeprecationWarning|OMP: Info).*$"
)

# Keep the header and footer of the released notebooks as they are in solutions/.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
