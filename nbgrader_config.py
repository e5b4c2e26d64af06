"""nbgrader configuration: run the instructor commands from the repository root.

    nbgrader generate_assignment gates      # solutions/gates -> notebooks/gates (student version)
    nbgrader autograde gates                # grades submitted/<student>/gates
"""
c = get_config()  # noqa: F821  (provided by nbgrader when it loads this file)

c.CourseDirectory.root = "."
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
c.CourseDirectory.db_url = "sqlite:///gradebook.db"
