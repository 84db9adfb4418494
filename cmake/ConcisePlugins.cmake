# concise_add_plugin(<target> <name> <sources>...): a backend plugin, a shared
# MODULE named libconcise_<name>.so that exports only concise_<name>_plugin().
# Plugins land in <build>/lib/concise, where the programs in <build>/tools,
# <build>/tests and <build>/bench look (<exe dir>/../lib/concise), install into
# <prefix>/lib/concise beside <prefix>/bin, and for pip install . into the Python
# package's folder (found beside the module) and <env>/lib/concise (found by the
# concise program pip puts in <env>/bin).
set(CONCISE_PLUGIN_OUTPUT_DIR ${PROJECT_BINARY_DIR}/lib/concise)
set_property(GLOBAL PROPERTY CONCISE_PLUGINS "")

function(concise_add_plugin target name)
  add_library(${target} MODULE ${ARGN})
  set_target_properties(${target} PROPERTIES
    OUTPUT_NAME concise_${name}
    PREFIX lib
    LIBRARY_OUTPUT_DIRECTORY ${CONCISE_PLUGIN_OUTPUT_DIR}
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    # An installed plugin finds CUDA's or LibTorch's libraries where the build found them.
    INSTALL_RPATH_USE_LINK_PATH ON)
  # The static libraries inside (core, solvers, the backend) stay private to the plugin.
  target_link_options(${target} PRIVATE "-Wl,--exclude-libs,ALL" "-Wl,--no-undefined")
  target_link_libraries(${target} PRIVATE concise::core concise_warnings)
  set_property(GLOBAL APPEND PROPERTY CONCISE_PLUGINS ${target})
  if(SKBUILD)
    install(TARGETS ${target} LIBRARY DESTINATION concise)
    install(TARGETS ${target} LIBRARY DESTINATION ${SKBUILD_DATA_DIR}/lib/concise)
  else()
    install(TARGETS ${target} LIBRARY DESTINATION lib/concise)
  endif()
endfunction()

# Makes `target` build every plugin, so that running it from the build tree finds them.
function(concise_needs_plugins target)
  get_property(plugins GLOBAL PROPERTY CONCISE_PLUGINS)
  if(plugins)
    add_dependencies(${target} ${plugins})
  endif()
endfunction()
