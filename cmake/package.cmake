# What `make install` puts where, and the Debian package made of it with
# CPack (deploy/package.sh runs it). CPack, not debian/ and dpkg-buildpackage:
# the install rules are the one list of what ships, the package is built
# from the same CMake tree as everything else, and dpkg-shlibdeps still
# computes the library dependencies.
include(GNUInstallDirs)

# man pages, compressed as Debian wants them
set(SS_MAN_PAGES secsrv.8 secsrv-backup.8 secsrv-registry.1 secsrv-policy.1 secsrv-log.1)
set(SS_MAN_GZ)
foreach(page ${SS_MAN_PAGES})
  set(gz ${CMAKE_BINARY_DIR}/man/${page}.gz)
  add_custom_command(OUTPUT ${gz}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
    COMMAND gzip -9n -c ${PROJECT_SOURCE_DIR}/deploy/man/${page} > ${gz}
    DEPENDS ${PROJECT_SOURCE_DIR}/deploy/man/${page})
  list(APPEND SS_MAN_GZ ${gz})
  string(REGEX REPLACE ".*\\." "" section ${page})
  install(FILES ${gz} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endforeach()
set(SS_CHANGELOG_GZ ${CMAKE_BINARY_DIR}/changelog.gz)
add_custom_command(OUTPUT ${SS_CHANGELOG_GZ}
  COMMAND gzip -9n -c ${PROJECT_SOURCE_DIR}/deploy/debian/changelog > ${SS_CHANGELOG_GZ}
  DEPENDS ${PROJECT_SOURCE_DIR}/deploy/debian/changelog)
add_custom_target(ss_docs ALL DEPENDS ${SS_MAN_GZ} ${SS_CHANGELOG_GZ})

install(FILES schemas/registry.xsd schemas/policy.xsd schemas/soap-envelope.xsd
  schemas/xroad.xsd schemas/identifiers.xsd schemas/representation.xsd schemas/secsrv-soap.xsd
  DESTINATION ${CMAKE_INSTALL_DATADIR}/secsrv/schemas)
install(FILES deploy/systemd/secsrv@.service DESTINATION lib/systemd/system)
install(PROGRAMS deploy/secsrv-backup DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES deploy/secsrv.conf.example
  DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/secsrv)
install(DIRECTORY policies/examples/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples/policies)
install(FILES deploy/haproxy/secsrv-cluster.cfg DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples/haproxy)
install(FILES deploy/secsrv.conf.example README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES deploy/debian/copyright ${SS_CHANGELOG_GZ} DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME secsrv)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "secsrv maintainers <secsrv@example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "security server for once-only register exchange between authorities")
# the extended description; CPack puts the summary first as the synopsis
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "secsrv authenticates, signs, forwards, logs and timestamps every
cross-authority register query and its answer, in the X-Road message
protocols for REST and SOAP, keeps the signed members registry of its
federation and enforces per-service access policies loaded from files.
secsrv-log lets a data-protection officer verify and search the signed
message log.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# secsrv-backup's tools
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, openssl, sqlite3")
# signing keys in a PKCS#11 token ([signer] key = MEMBER pkcs11:... CERT)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "libengine-pkcs11-openssl")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${PROJECT_SOURCE_DIR}/deploy/debian/postinst ${PROJECT_SOURCE_DIR}/deploy/debian/prerm
  ${PROJECT_SOURCE_DIR}/deploy/debian/postrm ${PROJECT_SOURCE_DIR}/deploy/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
include(CPack)
