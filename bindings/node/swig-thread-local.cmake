# Run after SWIG: its V8 runtime keeps the template of the pointer objects
# for handles in one process-wide v8::Persistent, which every isolate that
# loads the addon (the main thread's, each Worker's) would overwrite with its
# own. One per thread is one per isolate, as Node runs one per thread.
file(READ ${WRAP} text)
set(from "SWIGRUNTIME v8::Persistent<v8::FunctionTemplate> SWIGV8_SWIGTYPE_Proxy_class_templ;")
set(to "static thread_local v8::Persistent<v8::FunctionTemplate> SWIGV8_SWIGTYPE_Proxy_class_templ;")
string(FIND "${text}" "${from}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "swig-thread-local.cmake: SWIG's proxy template not found in ${WRAP}")
endif()
string(REPLACE "${from}" "${to}" text "${text}")
file(WRITE ${WRAP} "${text}")
