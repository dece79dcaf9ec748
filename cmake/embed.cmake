# cmake -DIN=file -DOUT=file.c -DSYM=name -P embed.cmake
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" hexlen)
math(EXPR n "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE ${OUT} "#include <stddef.h>\nconst unsigned char ${SYM}[] = {${bytes} 0x00};\nconst size_t ${SYM}_len = ${n};\n")
