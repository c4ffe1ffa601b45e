// The Swift task-context API lands with issue 3.
@_implementationOnly import CContextStore
