<?php
$major = 1;
return [
    'version' => "$major.5.0",
];
