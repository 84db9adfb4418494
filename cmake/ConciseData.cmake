# The data concise ships (data/README.md): CLIP's BPE merges for the tokenizer and
# the demo's files. The build copies them to BUILD/share/concise, beside the
# executables' folder, where the CLI looks (../share/concise from its own folder);
# installing puts them in PREFIX/share/concise, and pip install . also puts the
# merges in the package for concise.clip.Tokenizer().
include(GNUInstallDirs)
set(CONCISE_SHIPPED_DATA
    bpe_simple_vocab_16e6.txt.gz
    clip-vit-b32/lvis_concepts.npy
    clip-vit-b32/lvis_concepts.txt
    clip-vit-b32/image_mean.npy
    clip-vit-b32/image_embeddings.npy
    clip-vit-b32/image_embeddings.txt)
if(SKBUILD)
  set(concise_data_destination ${SKBUILD_DATA_DIR}/share/concise)
else()
  set(concise_data_destination ${CMAKE_INSTALL_DATADIR}/concise)
endif()
foreach(file IN LISTS CONCISE_SHIPPED_DATA)
  configure_file(${PROJECT_SOURCE_DIR}/data/${file} ${PROJECT_BINARY_DIR}/share/concise/${file} COPYONLY)
  get_filename_component(folder ${file} DIRECTORY)
  install(FILES ${PROJECT_SOURCE_DIR}/data/${file} DESTINATION ${concise_data_destination}/${folder})
endforeach()
if(SKBUILD)
  install(FILES ${PROJECT_SOURCE_DIR}/data/bpe_simple_vocab_16e6.txt.gz DESTINATION concise/data)
endif()
